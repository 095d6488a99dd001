# The engine's sources, shared by the C++ tests and the CUDA addon (binding.gyp lists the same
# files for the CPU addon: keep the two in step).
set(BERTKIT_ENGINE_SOURCES
  ${PROJECT_SOURCE_DIR}/native/core/batch_plan.cc
  ${PROJECT_SOURCE_DIR}/native/core/model.cc
  ${PROJECT_SOURCE_DIR}/native/core/weight_reader.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/cpu_features.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/cpu_model.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/gemm.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/gemm_bf16.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/gemm_int8.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/kernels.cc
  ${PROJECT_SOURCE_DIR}/native/cpu/thread_pool.cc
)
set(BERTKIT_REFERENCE_SOURCES
  ${PROJECT_SOURCE_DIR}/native/cpu/ref/reference.cc
)
# The training engine (native/train): its own GEMMs, kernels and the TrainableModel.
set(BERTKIT_TRAIN_SOURCES
  ${PROJECT_SOURCE_DIR}/native/train/train_gemm.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_activations.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_attention.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_dropout.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_embeddings.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_layernorm.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_losses.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_optimizer.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_backward.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_forward.cc
  ${PROJECT_SOURCE_DIR}/native/train/train_heads.cc
  ${PROJECT_SOURCE_DIR}/native/train/trainable_model.cc
)
set(BERTKIT_TRAIN_REFERENCE_SOURCES
  ${PROJECT_SOURCE_DIR}/native/train/ref/train_reference.cc
)
