"""`fedcybgd sample` with its key/value cache, for GPT-2 and Llama runs: stdout is the text alone and
the same as without the cache (also past the context length, where the window slides), and the speed
line goes to stderr."""
import re
import subprocess

import pytest

from conftest import BINARY, FORTUNES

JOB = """\
name = "{name}"
output = "{output}"
seed = 7

[model]
layers = 2
width = 32
heads = 4
context = 24
{extra}

[data]
corpus = "{corpus}"

[train]
rounds = 1
clients_per_round = 1
local_steps = 2
batch = 2
sequence = 24
learning_rate = 3e-3
eval_batches = 1
threads = 1
"""

ARCHITECTURES = {
    "gpt2": "",
    "llama": 'architecture = "llama"\nkv_heads = 2',
}

SPEED_LINE = re.compile(r"^sampled (\d+) tokens? in \d+\.\d\d s \((\d+|-) tokens/s, (key/value cache|full forward pass per token)\)$")


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def run_folder(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    job = tmp / "job.toml"
    job.write_text(JOB.format(name=request.param, output=tmp / "runs", corpus=FORTUNES, extra=ARCHITECTURES[request.param]))
    done = subprocess.run([BINARY, "train", str(job)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp / "runs" / request.param


def sample(run_folder, *flags):
    done = subprocess.run([BINARY, "sample", str(run_folder), "--prompt", "Q: why", *flags],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("temperature", ["0", "0.9"])
def test_the_cache_gives_the_text_of_full_forward_passes_past_the_context(run_folder, temperature):
    # 60 tokens after a 6-byte prompt run well past the 24-token context.
    flags = ["--tokens", "60", "--temperature", temperature, "--seed", "3"]
    cached, full = sample(run_folder, *flags), sample(run_folder, *flags, "--no-key-value-cache")
    assert cached.stdout.startswith("Q: why") and len(cached.stdout.encode()) > 30
    assert cached.stdout == full.stdout


def test_stdout_is_the_text_and_the_speed_line_goes_to_stderr(run_folder):
    cached = sample(run_folder, "--tokens", "40", "--seed", "4")
    full = sample(run_folder, "--tokens", "40", "--seed", "4", "--no-key-value-cache")
    assert "tokens/s" not in cached.stdout and cached.stdout.count("\n") == cached.stdout.rstrip("\n").count("\n") + 1
    for done, mode in [(cached, "key/value cache"), (full, "full forward pass per token")]:
        line = done.stderr.strip().splitlines()[-1]
        match = SPEED_LINE.match(line)
        assert match, line
        assert match.group(3) == mode
        assert 1 <= int(match.group(1)) <= 40
