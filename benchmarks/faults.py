"""Fault injection: does a crash, a signal, a full disk, a second run or a NaN lose anything?

    python benchmarks/faults.py                  # every fault, 3 tries each (about 10 minutes on 2 cores)
    python benchmarks/faults.py --tries 1 kill_training sigterm

Each try runs `python -m tfgan.train` on the 8-Gaussian ring (configs/toy_ring8.cfg, small and fast, with
frequent checkpoints), injects one fault, then re-runs the same command without it. It survived when the
re-run finishes at the configured step with an export that the serving loader runs
(`tfgan.serving.validate_export`, in the loader TF Serving uses) and, for every fault that must not change
the result, with final weights equal to those of an uninterrupted run. "Data lost" counts tries where a
checkpoint did not restore, a half-written export became visible, or the final weights differ.

Faults:
  kill_training     kill -9 at a random moment of training
  kill_checkpoint   kill -9 while a checkpoint is being written (its temporary directory exists)
  kill_export       kill -9 while the SavedModel is being written (its hidden temporary directory exists)
  sigterm           SIGTERM at a random moment (the run saves a checkpoint and exits 130)
  disk_full         the run directory on a small tmpfs, filled until a checkpoint write fails; then space
                    is freed (skipped, with the reason, where no tmpfs can be mounted)
  read_only         the run directory on a read-only file system: one line, exit 5, nothing written (skipped
                    where no tmpfs can be mounted); the same command on a writable directory then works
  second_run        a second run into the same run directory while the first trains (must stop at once)
  nan               --d_learning_rate=1e6 (the run stops with exit 3 keeping only finite checkpoints; the
                    re-run resumes from the earliest checkpoint with a sane learning rate)
"""

import argparse
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIG = os.path.join(REPO, "configs", "toy_ring8.cfg")
ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")
FAULTS = ("kill_training", "kill_checkpoint", "kill_export", "sigterm", "disk_full", "read_only", "second_run", "nan")


def train_cmd(run_dir, steps, *extra):
    return [sys.executable, "-m", "tfgan.train", f"--flagfile={CONFIG}", f"--run_dir={run_dir}", f"--steps={steps}",
            "--checkpoint_every=25", "--log_every=100", "--sample_every=100000", "--num_samples=200", *extra]


def start(run_dir, steps, *extra):
    return subprocess.Popen(train_cmd(run_dir, steps, *extra), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(run_dir, steps, *extra, timeout=600):
    proc = subprocess.run(train_cmd(run_dir, steps, *extra), cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def wait_for(predicate, proc, timeout=120.0, poll=0.001):
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(poll)
    return True


def checkpoint_weights(run_dir):
    """{variable name: value} of the latest checkpoint (raises if it does not restore)."""
    import numpy as np
    import tensorflow as tf
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    reader = tf.train.load_checkpoint(latest)
    return {name: np.asarray(reader.get_tensor(name)) for name in reader.get_variable_to_shape_map()
            if not name.startswith("_CHECKPOINTABLE") and "save_counter" not in name}


def all_finite(weights):
    import numpy as np
    return all(np.all(np.isfinite(v)) for v in weights.values() if np.issubdtype(v.dtype, np.floating))


def same_weights(a, b):
    import numpy as np
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def export_serves(run_dir, steps):
    from tfgan import serving
    path = os.path.join(run_dir, "export", str(steps))
    visible = [n for n in os.listdir(os.path.join(run_dir, "export")) if not n.startswith(".")]
    if visible != [str(steps)] and visible != [str(steps), f"{steps}.tflite"]:
        return False, f"export directory holds {visible}"
    report = serving.validate_export(path, (2,))
    return report.ok, "; ".join(report.problems)


class Outcome:
    def __init__(self, fault):
        self.fault, self.tries, self.survived, self.lost, self.injected, self.notes = fault, 0, 0, 0, 0, []

    def record(self, survived: bool, lost: bool, injected: bool = True, note: str = ""):
        self.tries += 1
        self.survived += survived
        self.lost += lost
        self.injected += injected
        if note:
            self.notes.append(note)


def check_after(outcome, run_dir, steps, reference, expect_same=True, injected=True, note=""):
    code, out = finish(run_dir, steps)
    if code != 0:
        outcome.record(False, True, injected, f"re-run exited {code}: {out.strip().splitlines()[-1][:160]}")
        return
    ok, problems = export_serves(run_dir, steps)
    try:
        weights = checkpoint_weights(run_dir)
        same = same_weights(weights, reference) if expect_same else all_finite(weights)
    except Exception as e:  # a checkpoint that does not restore is lost data
        outcome.record(False, True, injected, f"checkpoint: {e}")
        return
    lost = not ok or not same
    outcome.record(ok and same, lost, injected,
                   note or ("" if not lost else f"export: {problems}" if not ok else "final weights differ"))


def kill_at(proc, predicate, sig=signal.SIGKILL, timeout=120.0):
    if not wait_for(predicate, proc, timeout):
        return False
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return True


def run_fault(fault, outcome, work, steps, reference, rng):
    run_dir = os.path.join(work, f"{fault}-{outcome.tries}")
    ckpt = os.path.join(run_dir, "checkpoints")
    if fault in ("kill_training", "sigterm"):
        proc = start(run_dir, steps)
        wait_for(lambda: glob.glob(os.path.join(ckpt, "ckpt-*.index")), proc)
        time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is not None:  # finished before the fault: nothing injected
            proc.communicate()
            return check_after(outcome, run_dir, steps, reference, injected=False)
        proc.send_signal(signal.SIGKILL if fault == "kill_training" else signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        trained = f"step {steps}/{steps}" in out  # the signal came after training, during the export
        if fault == "sigterm" and (proc.returncode != 130 or not ("interrupted at step" in out or trained)):
            return outcome.record(False, False, True, f"SIGTERM: exit {proc.returncode}, no save message")
        return check_after(outcome, run_dir, steps, reference)
    if fault == "kill_checkpoint":
        proc = start(run_dir, steps)
        hit = kill_at(proc, lambda: any("_temp" in n for n in os.listdir(ckpt)) if os.path.isdir(ckpt) else False)
        if not hit:
            proc.communicate()
        return check_after(outcome, run_dir, steps, reference, injected=hit)
    if fault == "kill_export":
        proc = start(run_dir, steps)
        export = os.path.join(run_dir, "export")
        hit = kill_at(proc, lambda: os.path.isdir(export) and any(n.startswith(".") for n in os.listdir(export)),
                      timeout=600)
        if not hit:
            proc.communicate()
        elif [n for n in os.listdir(export) if not n.startswith(".")]:
            return outcome.record(False, True, True, "a partial export was visible after the kill")
        return check_after(outcome, run_dir, steps, reference, injected=hit)
    if fault == "second_run":
        proc = start(run_dir, steps)
        wait_for(lambda: glob.glob(os.path.join(ckpt, "ckpt-*.index")), proc)
        began = time.perf_counter()
        code, out = finish(run_dir, steps)
        took = time.perf_counter() - began
        first_out, _ = proc.communicate(timeout=600)
        refused = code == 2 and "is locked by pid" in out and took < 15
        if not refused:
            return outcome.record(False, True, True, f"second run: exit {code} after {took:.1f}s")
        if proc.returncode != 0:
            return outcome.record(False, True, True, f"first run: exit {proc.returncode}")
        return check_after(outcome, run_dir, steps, reference)
    if fault == "disk_full":
        return disk_full(outcome, run_dir, steps, reference)
    if fault == "read_only":
        mounted, why = mount_tmpfs(run_dir, "1m", read_only=True)
        if not mounted:
            outcome.notes.append(f"skipped: {why}")
            return None
        try:
            code, out = finish(run_dir, steps)
        finally:
            subprocess.run(["umount", "-l", run_dir], capture_output=True)
        lines = [line for line in out.strip().splitlines() if line.strip()]
        if code != 5 or len(lines) != 1 or "Read-only file system" not in lines[0]:
            return outcome.record(False, False, True, f"read-only: exit {code}: {out.strip()[-200:]}")
        return check_after(outcome, run_dir, steps, reference)
    if fault == "nan":
        code, out = finish(run_dir, steps, "--d_learning_rate=1e6", "--checkpoint_every=1")
        if code != 3 or "--d_learning_rate" not in out or "--resume_from=" not in out:
            return outcome.record(False, False, True, f"NaN run: exit {code}: {out.strip()[-160:]}")
        try:
            kept = checkpoint_weights(run_dir)
        except FileNotFoundError:
            kept = {}
        if kept and not all_finite(kept):
            return outcome.record(False, True, True, "a non-finite checkpoint was kept")
        # As the message says: a new run directory, resuming the last finite checkpoint with a sane rate.
        resume = out.split("--resume_from=")[1].split()[0]
        fresh = run_dir + "-resumed"
        code, out = finish(fresh, steps, f"--resume_from={resume}")
        if code != 0:
            return outcome.record(False, True, True, f"resume: exit {code}: {out.strip()[-160:]}")
        return check_after(outcome, fresh, steps, reference, expect_same=False)
    raise ValueError(fault)


def mount_tmpfs(path, size, read_only=False):
    os.makedirs(path, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    for cmd in (["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
                ["sudo", "-n", "mount", "-t", "tmpfs", "-o", options, "tmpfs", path]):
        try:
            if subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0:
                return True, ""
        except (OSError, subprocess.TimeoutExpired):
            continue
    return False, "no tmpfs could be mounted here (needs root or sudo)"


def disk_full(outcome, run_dir, steps, reference):
    mounted, why = mount_tmpfs(run_dir, "8m")
    if not mounted:
        outcome.notes.append(f"skipped: {why}")
        return
    try:
        proc = start(run_dir, steps)
        wait_for(lambda: len(glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index"))) >= 2, proc)
        filler = os.path.join(run_dir, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # take every byte left
            while True:
                os.write(fd, b"\0" * (1 << 16))
        except OSError:
            pass
        finally:
            os.close(fd)
        out, _ = proc.communicate(timeout=300)
        lines = [line for line in out.strip().splitlines() if line.startswith("error: ")]
        one_line = proc.returncode == 5 and len(lines) == 1 and "Traceback" not in out
        leftovers = glob.glob(os.path.join(run_dir, "checkpoints", "*_temp*"))
        try:
            restorable = all_finite(checkpoint_weights(run_dir))
        except Exception:
            restorable = False
        os.remove(filler)
        if not one_line or leftovers or not restorable:
            return outcome.record(False, not restorable, True,
                                  f"disk full: exit {proc.returncode}, one line {one_line}, temp dirs {leftovers}, "
                                  f"restorable {restorable}")
        check_after(outcome, run_dir, steps, reference)
    finally:
        subprocess.run(["umount", "-l", run_dir], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("faults", nargs="*", help=f"faults to inject (default: all of {', '.join(FAULTS)})")
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    args.faults = args.faults or list(FAULTS)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="tfgan_faults_")
    reference_dir = os.path.join(work, "reference")
    code, out = finish(reference_dir, args.steps)
    if code != 0:
        sys.exit(f"the uninterrupted reference run failed: {out[-2000:]}")
    reference = checkpoint_weights(reference_dir)
    outcomes = []
    for fault in args.faults:
        outcome = Outcome(fault)
        for _ in range(args.tries):
            run_fault(fault, outcome, work, args.steps, reference, rng)
            if outcome.notes and outcome.notes[-1].startswith("skipped"):
                break
        outcomes.append(outcome)
        print(f"{fault}: {outcome.survived}/{outcome.tries} survived, {outcome.lost} lost"
              + (f" ({'; '.join(outcome.notes)})" if outcome.notes else ""), flush=True)
    print(f"\n{'fault':<16} {'tries':>5} {'injected':>8} {'survived':>8} {'data lost':>9}  notes")
    for o in outcomes:
        print(f"{o.fault:<16} {o.tries:>5} {o.injected:>8} {o.survived:>8} {o.lost:>9}  {'; '.join(o.notes)[:100]}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(o.survived == o.tries and not o.lost for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
