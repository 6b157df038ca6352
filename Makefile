# The two commands of the README. Each installs and builds what is missing first.
.PHONY: demo test bench compare
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bench:
	bash scripts/setup.sh && swift build -c release --product fedcybgd && .build/release/fedcybgd bench
compare:
	bash scripts/compare.sh
