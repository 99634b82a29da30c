import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# No TensorFlow import here: under pytest-xdist the controller process loads
# this file too, and TF's start-up lines would land after the summary line.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
