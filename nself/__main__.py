"""The `nself` command (the installed script and `python -m nself`).

Signal handling comes first: importing the modules behind the Program takes ~0.4 s, and
a Ctrl-C or SIGTERM in that time prints `Interrupted.` and exits 130, never a traceback
from the middle of an import or a death by the signal (`nself.interrupts`).
"""

import gc

from nself import interrupts

interrupts.stop_at_once()


def main() -> None:
    """Run `nself` with the process's arguments; exits with the code of nself.errors."""
    try:
        # Python collects garbage ~80 times while the ~420 modules behind the Program load,
        # and finds nothing to free (modules live to the end): 15-40 ms of `db status`
        # (bench/README.md). Collection resumes once they are loaded, frozen out of it.
        gc.disable()
        try:
            from nself.cli import program
        finally:
            gc.freeze()
            gc.enable()
        program.run()
    finally:
        interrupts.settled()


if __name__ == "__main__":
    main()
