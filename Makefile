# make demo  - create .venv, install, make the demo data, train the demo model, generate from it
# make test  - create .venv if needed, install with test extras, run the test suite
# make tensorboard - serve the training logs (training/experiments) at http://localhost:6006
#
# TORCH_SPEC pins the CPU wheel that these machines carry; a CUDA user can override it,
# e.g.  make test TORCH_SPEC="torch==2.5.1"  or  TORCH_SPEC=""  to keep an installed torch.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.motionlab-installed

.PHONY: install demo test bench tensorboard clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.py
	$(if $(TORCH_SPEC),$(PY) -m pip install --quiet "$(TORCH_SPEC)")
	$(PY) -m pip install --quiet -e ".[test,text]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	./script_train.sh demo --overwrite
	./script_generate.sh demo
	@echo "motionlab: to use the motionlab and tensorboard commands in this shell: . $(VENV)/bin/activate  (or: make tensorboard)"

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir training/experiments

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/dataloader.py

clean:
	rm -rf $(VENV) training/experiments inference/generated data/demo
