"""The TFX-style pipeline: `python -m tfgan.pipeline --flagfile=configs/pipeline_quickstart.cfg`, `... runs`, `... lineage DIR`.

The command lives in `pipelines.commands.pipeline` (the flag layer above the library); `--help` lists its flags.
"""

from pipelines.commands.pipeline import run

if __name__ == "__main__":
    run()
