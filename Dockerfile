# Instructor image: JupyterLab with TensorFlow and PyTorch on one CUDA 12 stack, data pre-fetched.
#   docker build -t ai-science-bootcamp .
#   docker run --gpus all -p 127.0.0.1:8888:8888 ai-science-bootcamp      # token in the log
#   docker run --gpus all -p 127.0.0.1:8888:8888 -e JUPYTER_TOKEN=mysecret ai-science-bootcamp
#   docker run --rm --gpus all ai-science-bootcamp python -m common doctor --gpu   # the GPU check
# Binding the port to 127.0.0.1 keeps the server off the network; learners on other machines
# reach it through an SSH tunnel (ssh -L 8888:localhost:8888 host).
# CUDA comes from the pip wheels, not from the base image: every nvidia-* package that
# constraints-gpu.txt pins is a CUDA 12 build, and TensorFlow and PyTorch share them (one cuDNN,
# one NCCL). The host needs only the NVIDIA driver (CUDA 12.8 or newer) and the NVIDIA Container
# Toolkit. g++ builds what torch.compile (Triton) and pystencils (the CFD solver's CPU kernels)
# generate. The server runs as an ordinary user, not as root.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BOOTCAMP_MODE=full \
    TF_FORCE_GPU_ALLOW_GROWTH=true

RUN apt-get update \
    && apt-get install -y --no-install-recommends git make g++ \
    && rm -rf /var/lib/apt/lists/* \
    && python -m venv /opt/venv \
    && useradd --create-home --uid 1000 --shell /bin/bash learner \
    && mkdir -p /workspace/bootcamp \
    && chown learner:learner /workspace/bootcamp

WORKDIR /workspace/bootcamp

# The dependencies of pyproject.toml (a test keeps the names in step), at the GPU set's versions;
# TensorFlow with its CUDA wheels.
COPY constraints-gpu.txt ./
RUN pip install -c constraints-gpu.txt pip \
    && pip install -c constraints-gpu.txt \
        "keras>=3.10" "tensorflow[and-cuda]>=2.16" "tensorboard>=2.16" "torch>=2.2" \
        "numpy>=1.26" "scipy>=1.11" "pandas>=2.1" "matplotlib>=3.8" "scikit-learn>=1.4" \
        "opencv-python-headless>=4.8" "tqdm>=4.66" "filelock>=3.12" "jupyterlab>=4.0" "ipykernel>=6.25" \
        "ipywidgets>=8.1" "pystencils>=2.0" \
        "pytest>=8.0" "pytest-xdist>=3.5" "nbval>=0.11" "nbclient>=0.10" "ruff>=0.5"

COPY --chown=learner:learner . .
RUN pip install -c constraints-gpu.txt --no-deps -e ".[dev]" \
    && python -m common lab-settings
USER learner
RUN python -m common fetch all \
    && python -m common frames \
    && python -m common flows

EXPOSE 8888
# Token authentication stays on: Jupyter prints the URL with its token, or uses $JUPYTER_TOKEN.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", \
     "--ServerApp.default_url=/lab/tree/Start_Here.ipynb"]
