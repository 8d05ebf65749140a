"""How much margin each lab's verdict has: every lab in quick mode over seeds x thread counts.

Run it from the repository root (about 7 minutes per configuration pass on a quiet 2-core machine):

    .venv/bin/python benchmarks/lab_margins.py [--labs memory gan_collapse] [--seeds 0 1 2] [--threads 1 2]
        [--isa native avx2]

A lab's quick-mode test asserts its verdict and a few of its numbers for seed 0 at the
suite's thread count. Float rounding differs between machines of the same kind (other
CPU models pick other kernels), so a claim that holds for one seed on one machine can
fail on another. Other seeds and thread counts perturb training the way another machine
does; the worst case over them is the margin to design for. ``--isa avx2`` goes further and
runs the labs on the kernels a CPU without AVX-512 would use (torch's ATen, MKL and oneDNN
dispatch all capped at AVX2), which is how another machine of this kind really differs.
Each configuration runs in
its own process (fresh RNGs and thread pool), ``torch.set_num_threads`` fixed before the
lab starts. Printed: per lab, the verdict in every configuration and each headline number's
worst and best value; ``--json`` also writes every result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ONE_CONFIGURATION = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from lamina.labs.catalog import run_lab
seed, out, names = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
for name in names:
    result = run_lab(name, out, quick=True, seed=seed, progress="none")
    print(json.dumps({"lab": name, "verdict": result.verdict, "numbers": result.numbers,
                      "seconds": round(result.seconds, 1), "margin": result.margin}), flush=True)
"""


AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def run_configuration(names: list[str], seed: int, threads: int, isa: str, out: Path) -> list[dict]:
    """Run the named labs for one seed at one thread count and instruction set in a fresh process."""
    command = [sys.executable, "-c", ONE_CONFIGURATION, str(threads), str(seed), str(out), *names]
    env = {**os.environ, **(AVX2_ONLY if isa == "avx2" else {})}
    finished = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if finished.returncode != 0:
        raise SystemExit(f"seed {seed}, {threads} thread(s), {isa} failed:\n{finished.stderr[-3000:]}")
    records = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    for record in records:
        record.update(seed=seed, threads=threads, isa=isa)
    return records


def summarize(records: list[dict]) -> str:
    """A markdown table: per lab, how many configurations confirmed and each number's worst..best range."""
    lines = ["| lab | confirmed | numbers (min .. max over seeds x threads) |", "|---|---|---|"]
    for lab in dict.fromkeys(r["lab"] for r in records):
        mine = [r for r in records if r["lab"] == lab]
        confirmed = sum(r["verdict"] == "CONFIRMED" for r in mine)
        ranges = []
        for key in mine[0]["numbers"]:
            values = [r["numbers"][key] for r in mine]
            ranges.append(f"{key} {min(values):.3g}..{max(values):.3g}")
        failed = [f"s{r['seed']}/t{r['threads']}/{r['isa']}" for r in mine if r["verdict"] != "CONFIRMED"]
        verdicts = f"{confirmed}/{len(mine)}" + (f" (not: {', '.join(failed)})" if failed else "")
        lines.append(f"| {lab} | {verdicts} | {'; '.join(ranges)} |")
    return "\n".join(lines)


def main() -> None:
    """Run every configuration, print each configuration's lines as it finishes, then the summary table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", nargs="*", default=None, help="lab names (default: every lab)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--isa", nargs="+", choices=["native", "avx2"], default=["native"],
                        help="native kernels, or those of a CPU without AVX-512")
    parser.add_argument("--json", type=Path, default=None, help="also write every record to this file")
    args = parser.parse_args()
    from lamina.labs.catalog import list_labs

    names = args.labs or [lab.name for lab in list_labs()]
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        for isa in args.isa:
            for threads in args.threads:
                for seed in args.seeds:
                    out = Path(scratch) / f"s{seed}-t{threads}-{isa}"
                    batch = run_configuration(names, seed, threads, isa, out)
                    for record in batch:
                        print(f"seed {seed} threads {threads} {isa} {record['lab']}: {record['verdict']} "
                              f"({record['seconds']} s) {record['margin']}", flush=True)
                    records.extend(batch)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    print(summarize(records))


if __name__ == "__main__":
    main()
