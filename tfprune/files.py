"""Writing files so that a failure leaves none half-written."""

import os
import tempfile


def write_atomically(path, write):
    """Calls `write(tmp_path)`, then moves the file to `path` in one step.

    On any error no file (neither partial nor temporary) is left behind.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(data):
    """A `write(path)` for `write_atomically` that writes `data`."""
    def write(path):
        with open(path, "wb") as f:
            f.write(data)
    return write
