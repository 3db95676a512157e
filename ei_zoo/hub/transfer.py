"""Bounded transfers: fetch a URL within one deadline and a byte cap, hashing what arrives.

`ei_zoo.hub.zoo.download` fetches a mirror's index and archives with these, so
that a mirror, stalled, dripping or flooding, costs at most the deadline and
the bytes the client allows. Standard library only (urllib: http, https and
file URLs).
"""

from __future__ import annotations

import hashlib
import time
import urllib.request
from collections.abc import Callable
from typing import BinaryIO

CHUNK = 1 << 16
# What one download (`ei_zoo.hub.zoo.download`) may take by default: its deadline in
# seconds, index and archive together, and the most bytes its archive, and the export it
# unpacks to, may take (the shipped exports take 4-20 MB).
TIMEOUT = 300
MAX_BYTES = 10**9


class Deadline:
    """One deadline for several requests: `Deadline(seconds)`, then `left()` before each wait.

    Example:

    ```python
    deadline = Deadline(300)
    fetch(index_url, index_file, 1 << 24, deadline)
    fetch(archive_url, archive_file, size, deadline)  # what the index left of the 300 s
    ```
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; a TimeoutError once the deadline has passed."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out ({self.seconds:g} s deadline)")
        return left


class TooLarge(Exception):
    """More bytes arrived, or were announced (Content-Length), than the limit allows."""

    def __init__(self, size: int):
        super().__init__(f"{size} bytes")
        self.size = size


def fetch(url: str, out: BinaryIO, limit: int, deadline: Deadline,
          progress: Callable[[int], None] | None = None) -> str:
    """Copy `url` into `out`, reading at most `limit` bytes, and return their sha256 (hex).

    The deadline is checked after every read, and no single wait (connecting, or
    one read) may outlast what was left of it when the request was sent, so a
    transfer ends within twice what is left at its start, however the mirror
    answers. `progress(n)` is called with each read's size.

    Raises:
        TooLarge: the answer announces or sends more than `limit` bytes; reading stops
            at the first byte past it.
        TimeoutError: the deadline passed.
        OSError: the URL could not be read (urllib's URLError and HTTPError, a dropped
            connection, an answer shorter than its Content-Length).
        http.client.HTTPException: a malformed answer.
    """
    digest, received = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=deadline.left()) as response:
        announced = response.headers.get("Content-Length", "")
        announced = int(announced) if announced.isdigit() else None
        if announced is not None and announced > limit:
            raise TooLarge(announced)
        while chunk := response.read1(min(CHUNK, limit + 1 - received)):
            received += len(chunk)
            if received > limit:
                raise TooLarge(received)
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(len(chunk))
            deadline.left()
    if announced is not None and received < announced:
        raise ConnectionError(
            f"retrieval incomplete: got only {received} out of {announced} bytes")
    return digest.hexdigest()
