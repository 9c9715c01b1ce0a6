"""Ctrl-C during training: stop at the next step boundary with a resumable ``last.ckpt``.

The first SIGINT only raises a flag that the training loop (either path) reads after each
step: it saves ``last.ckpt`` there, where weights, optimizer and loop position agree, and the
run ends with exit code 130 and the command that resumes it. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading


class StopRequest:
    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this training step and saving last.ckpt (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)
