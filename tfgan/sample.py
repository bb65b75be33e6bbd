"""Pictures from an exported generator: `python -m tfgan.sample --run_dir=runs/quickstart --out=digits.png`.

The command lives in `pipelines.commands.sample` (the flag layer above the library); `--help` lists its flags.
"""

from pipelines.commands.sample import run

if __name__ == "__main__":
    run()
