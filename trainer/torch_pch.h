// Precompiled header: the LibTorch headers most trainer files include.
#pragma once
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include "compat.h"
