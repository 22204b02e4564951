"""`accelerate launch --cpu --num_processes N` (or a MULTI_CPU config file) without MPI starts ONE
process: accelerate's simple launcher leaves the N processes to mpirun. nlpkit notices that case and
starts the N processes itself through torchrun, keeping the launcher's environment (CPU, mixed
precision), so every way of launching trains data-parallel."""
import contextlib
import io
import os
import sys
from pathlib import Path


def _launcher_argv():
    """The arguments after `launch` of the parent `accelerate launch` command, or None."""
    try:
        argv = [a.decode() for a in Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return None
    for i, arg in enumerate(argv):  # `accelerate launch ...` or `python -m accelerate.commands.launch ...`
        if arg == "accelerate.commands.launch" or (arg == "launch" and i and Path(argv[i - 1]).name == "accelerate"):
            return argv[i + 1:]
    return None


def lost_processes():
    """N when `accelerate launch` asked for N > 1 CPU processes but started this one alone, else None."""
    env = os.environ
    if "WORLD_SIZE" in env or "MASTER_ADDR" not in env or env.get("ACCELERATE_USE_CPU", "").lower() != "true":
        return None
    argv = _launcher_argv()
    if argv is None:
        return None
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:  # the parser and accelerate's own merge of the config file's defaults
            args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
        except (SystemExit, Exception):
            return None
    n = (args.num_processes or 1) // max(args.num_machines or 1, 1)
    return n if n > 1 else None


def relaunch(n):
    """Replace this process by torchrun running the same nlpkit command in n processes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "nlpkit", *sys.argv[1:]]
    print(f"nlpkit: accelerate started 1 CPU process for --num_processes {n} (it needs MPI for more); "
          f"starting {n} through torchrun", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT")}
    os.execve(sys.executable, cmd, env)
