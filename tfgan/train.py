"""Train a GAN: `python -m tfgan.train --flagfile=configs/quickstart.cfg` (ingest, train, sample, export).

The command lives in `pipelines.commands.train` (the flag layer above the library); `--help` lists its flags.
"""

from pipelines.commands.train import run

if __name__ == "__main__":
    run()
