{
  "targets": [
    {
      "target_name": "bertkit",
      "sources": [
        "native/core/batch_plan.cc",
        "native/core/model.cc",
        "native/core/weight_reader.cc",
        "native/cpu/cpu_features.cc",
        "native/cpu/cpu_model.cc",
        "native/cpu/gemm.cc",
        "native/cpu/gemm_bf16.cc",
        "native/cpu/gemm_int8.cc",
        "native/cpu/kernels.cc",
        "native/cpu/thread_pool.cc",
        "native/train/train_gemm.cc",
        "native/train/train_activations.cc",
        "native/train/train_attention.cc",
        "native/train/train_dropout.cc",
        "native/train/train_embeddings.cc",
        "native/train/train_layernorm.cc",
        "native/train/train_losses.cc",
        "native/train/train_optimizer.cc",
        "native/train/train_backward.cc",
        "native/train/train_forward.cc",
        "native/train/train_heads.cc",
        "native/train/trainable_model.cc",
        "native/napi/addon.cc",
        "native/napi/addon_model.cc",
        "native/napi/addon_trainer.cc",
        "native/napi/js_convert.cc",
        "native/napi/workers.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-O3", "-fno-math-errno", "-ffp-contract=fast", "-Wno-psabi"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-ffp-contract=fast", "-Wno-psabi"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CFLAGS": ["-O3", "-fno-math-errno", "-ffp-contract=fast"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
      },
      # The kernels use GCC/Clang vector extensions and function target attributes: on Windows
      # the addon is built with clang-cl (MSVC's ClangCL toolset), not cl.exe.
      "conditions": [
        ["OS=='win'", {
          "msbuild_toolset": "ClangCL"
        }]
      ]
    }
  ]
}
