# The two commands of the README. Each installs and builds what is missing first.
.PHONY: demo test bench reproduce instruct-data instruct-demo
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bench:
	bash scripts/setup.sh && swift build -c release --product fedcybgd && .build/release/fedcybgd bench
# The instruction data set (data/instruct/instruct.jsonl) and its demo job (docs/DATA.md).
instruct-data:
	bash scripts/setup.sh
instruct-demo: instruct-data
	swift build -c release --product fedcybgd && bash scripts/mpirun.sh -n 4 .build/release/fedcybgd train jobs/instruct-demo.toml --replace
# The reproduction of the paper's claims: every run, then docs/REPRODUCTION.md (docs/REPRODUCTION.md says how long).
reproduce: instruct-data
	swift build -c release --product fedcybgd && python3 scripts/reproduce.py && python3 analysis/reproduce_report.py runs/reproduce --out docs
