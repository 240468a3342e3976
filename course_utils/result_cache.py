"""An on-disk cache of training results, one small JSON file per run, safe to kill at any moment.

The key is the sha256 of a canonical JSON of everything that changes a result (strategy and its
code, seed, labels per class, epochs, learning rate, augmentation, a fingerprint of the data,
the backbone's checksum, library versions). A changed key is a different file, so it recomputes.

Writes are atomic: the JSON goes to a temporary file in the cache folder, then ``os.replace``
puts it in place, so a reader (another thread, another kernel) sees the old file or the new
one, never half of one; a kernel restart loses nothing that was written. A file that cannot be
read back (truncated, edited by hand, from an older format) is reported through ``report`` and
treated as missing: the caller recomputes and overwrites it.
"""
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

FORMAT = 1


class CacheWarning(UserWarning):
    """A cache file could not be used (it will be recomputed)."""


CACHE_ENV = "COURSE_LAB_CACHE"


def default_cache_dir():
    """``<repo>/.cache/strategy_lab`` (git-ignored), or the folder named by ``COURSE_LAB_CACHE``."""
    if os.environ.get(CACHE_ENV, "").strip():
        return Path(os.environ[CACHE_ENV].strip())
    from .config import REPO_ROOT
    return REPO_ROOT / ".cache" / "strategy_lab"


def canonical_json(obj):
    """JSON with sorted keys and no spaces: the same dict always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


def cache_key(fields):
    """The sha256 (hex) of ``fields``' canonical JSON."""
    if not isinstance(fields, dict) or not fields:
        raise ValueError(f"a cache key is built from a non-empty dict of fields, got {fields!r}")
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _warn(message):
    warnings.warn(message, CacheWarning, stacklevel=3)


class ResultCache:
    """``get(fields)`` / ``put(fields, value)`` with JSON-serialisable ``value``s, in folder ``path``.

    ``report(message)`` is called for every unusable file (default: a ``CacheWarning``); the
    messages are also kept in ``problems``.
    """

    def __init__(self, path=None, report=None):
        self.path = Path(default_cache_dir() if path is None else path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"cache path {self.path} is a file; pass a folder (it is created if missing)")
        self.report = report or _warn
        self.problems = []

    def file_for(self, fields):
        key = cache_key(fields)
        return self.path / f"{key[:2]}" / f"{key}.json"

    def _problem(self, message):
        self.problems.append(message)
        self.report(message)

    def get(self, fields):
        """The stored value for ``fields``, or None (missing, or unreadable: reported, then None)."""
        f = self.file_for(fields)
        try:
            text = f.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            self._problem(f"cache file {f} cannot be read ({e}); recomputing")
            return None
        try:
            record = json.loads(text)
            if record.get("format") != FORMAT or record.get("key") != f.stem or "value" not in record:
                raise ValueError("not a result written by this version of the cache")
        except (ValueError, AttributeError) as e:
            self._problem(f"cache file {f.name} is corrupt ({type(e).__name__}: {str(e)[:80]}); recomputing it")
            return None
        return record["value"]

    def put(self, fields, value):
        """Store ``value`` for ``fields`` atomically; returns the file written."""
        f = self.file_for(fields)
        f.parent.mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "key": f.stem, "fields": fields, "value": value}
        text = json.dumps(record, indent=1, sort_keys=True, allow_nan=True, default=str)
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=f".{f.stem[:12]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, f)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return f

    def __bool__(self):
        return True   # a cache is a cache even while it holds nothing (len() is 0)

    def __len__(self):
        return sum(1 for _ in self.path.glob("*/*.json")) if self.path.exists() else 0

    def clear(self):
        """Delete every cached result in this folder (only the cache's own ``*.json`` files)."""
        for f in self.path.glob("*/*.json") if self.path.exists() else []:
            f.unlink(missing_ok=True)
