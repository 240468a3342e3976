"""Network blocker for an offline run: put this folder on PYTHONPATH and Python loads it at start-up.

Every Python process started with it (a Jupyter kernel, pytest, a script) refuses any connection
to a non-loopback address and any DNS lookup of a name that is not local, with `OfflineError`.
Loopback (127.0.0.0/8, ::1, localhost) and Unix sockets keep working: the kernel talks to its
client over them. `scripts/claims_other_seeds.py` runs the lessons this way.
"""
import ipaddress
import socket

_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class OfflineError(OSError):
    """A network access was attempted while the network is blocked for an offline run."""


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%")[0].strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False                      # a name that needs DNS
    return addr.is_loopback or addr.is_unspecified


def _is_ip_literal(host):
    try:
        ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).split("%")[0].strip("[]"))
    except ValueError:
        return False
    return True


def _refuse(what, target):
    raise OfflineError(f"network access blocked (offline run): {what} {target!r}")


def _check_address(sock, address, what):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not _is_local(address[0]):
            _refuse(what, address)


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo, _gethostbyname = socket.getaddrinfo, socket.gethostbyname
_gethostbyname_ex = socket.gethostbyname_ex


def connect(self, address):
    _check_address(self, address, "connect to")
    return _connect(self, address)


def connect_ex(self, address):
    _check_address(self, address, "connect to")
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _check_address(self, args[-1], "send to")
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if not (_is_local(host) or _is_ip_literal(host)):     # an address literal needs no DNS; connect() checks it
        _refuse("DNS lookup of", host)
    return _getaddrinfo(host, *args, **kwargs)


def gethostbyname(host):
    if not _is_local(host):
        _refuse("DNS lookup of", host)
    return _gethostbyname(host)


def gethostbyname_ex(host):
    if not _is_local(host):
        _refuse("DNS lookup of", host)
    return _gethostbyname_ex(host)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex = getaddrinfo, gethostbyname, gethostbyname_ex
socket.OfflineError = OfflineError        # so a test can name the blocker's error
