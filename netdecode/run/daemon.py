"""Background runs (-B): become a daemon, keep a pid file, and say when one already runs."""
import errno
import os
import sys

from .runner import SetupError

__all__ = ["detach", "remove"]


def detach(pid_path):
    """Become a daemon: fork, setsid, fork, stdio to /dev/null, write the pid file.
    The capture, the log and the outputs are open already, so every error that can be
    told on the terminal was."""
    try:
        with open(pid_path) as f:
            old = int(f.read().strip() or 0)
        if old:
            os.kill(old, 0)
            raise SetupError("already running in the background (pid %d, %s)"
                             % (old, pid_path))
    except (OSError, ValueError) as e:
        if getattr(e, "errno", errno.ESRCH) not in (errno.ENOENT, errno.ESRCH):
            raise SetupError("cannot use the pid file %s: %s" % (pid_path, e))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o027)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    fd = os.open(pid_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % os.getpid())
    return pid_path


def remove(path):
    """Remove a file that may be gone already (the pid file at the end)."""
    try:
        os.unlink(path)
    except OSError:
        pass
