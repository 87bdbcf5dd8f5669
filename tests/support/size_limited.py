"""Run a module with a file size limit, as if the disk filled up under it:
``python -m tests.support.size_limited BYTES MODULE ARGS...``. A write past the limit
fails with EFBIG instead of killing the process (SIGXFSZ ignored), as a full disk fails
a write with ENOSPC. The limit is set here, in the process itself, rather than in a
``preexec_fn`` of the parent, which is unsafe when the parent runs threads."""

from __future__ import annotations

import resource
import runpy
import signal
import sys

if __name__ == "__main__":
    limit = int(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
