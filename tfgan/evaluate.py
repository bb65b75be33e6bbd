"""Evaluate a trained generator: `python -m tfgan.evaluate --run_dir=runs/quickstart --metrics=fid,is,kid,precision_recall`.

The command lives in `pipelines.commands.evaluate` (the flag layer above the library); `--help` lists its flags.
"""

from pipelines.commands.evaluate import run

if __name__ == "__main__":
    run()
