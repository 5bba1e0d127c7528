# Instructor image: JupyterLab with TensorFlow and PyTorch on the GPU, data sets pre-fetched.
#   docker build -t ai-science-bootcamp .
#   docker run --gpus all -p 8888:8888 ai-science-bootcamp        # the token is printed in the log
#   docker run --gpus all -p 8888:8888 -e JUPYTER_TOKEN=mysecret ai-science-bootcamp
# Inside, `python -m common doctor` reports the GPU as TensorFlow and PyTorch see it.
# CUDA and cuDNN for both frameworks come from their pip wheels (tensorflow[and-cuda], torch's
# nvidia-* wheels); the NGC base brings the CUDA user-space stack. Needs an NVIDIA driver that
# supports the CUDA version of the torch wheel pinned in constraints.txt. g++ builds what
# torch.compile and pystencils (the CFD solver's CPU kernels) generate.
FROM nvcr.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BOOTCAMP_MODE=full

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev git make g++ \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /workspace/bootcamp

# The dependencies of pyproject.toml (a test keeps the names in step), at the tested versions;
# TensorFlow with its CUDA wheels.
COPY constraints.txt ./
RUN pip install -c constraints.txt \
        "keras>=3.10" "tensorflow[and-cuda]>=2.16" "tensorboard>=2.16" "torch>=2.2" \
        "numpy>=1.26" "scipy>=1.11" "pandas>=2.1" "matplotlib>=3.8" "scikit-learn>=1.4" \
        "opencv-python-headless>=4.8" "tqdm>=4.66" "filelock>=3.12" "jupyterlab>=4.0" "ipykernel>=6.25" \
        "ipywidgets>=8.1" "pystencils>=2.0" \
        "pytest>=8.0" "pytest-xdist>=3.5" "nbval>=0.11" "nbclient>=0.10" "ruff>=0.5"

COPY . .
RUN pip install -c constraints.txt --no-deps -e ".[dev]" \
    && python -m common fetch all \
    && python -m common frames

EXPOSE 8888
# Token authentication stays on: Jupyter prints the URL with its token, or uses $JUPYTER_TOKEN.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root", \
     "--ServerApp.default_url=/lab/tree/Start_Here.ipynb"]
