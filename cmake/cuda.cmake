# The CUDA backend (cuda/), included by CMakeLists.txt after the engine library.
#
#   bertkit_cuda          static library: cuda/ kernels, CudaModel, the probe (links bertkit_engine
#                         and the CUDA runtime, statically: no CUDA library is needed to build or run
#                         beyond the driver, which is loaded at run time when present; cuBLASLt is
#                         dlopen'ed at run time where present, see cuda/cublaslt.h)
#   bertkit_cuda.node     under cmake-js (npm run build:cuda): the CPU engine + the CUDA backend +
#                         native/napi, built with BERTKIT_WITH_CUDA, written to build-cuda/
#   test_cuda, bench_gpu  outside cmake-js: the CUDA kernel/fixture tests (CTest) and the GPU benchmark
#
# BERTKIT_CUDA: AUTO (default: build it when a CUDA compiler is found), ON (required), OFF.
# BERTKIT_CUDA_ARCHITECTURES: machine code for Ampere (8.0, 8.6), Ada (8.9) and Hopper (9.0), and
# PTX for 9.0 that the driver compiles for newer chips. Nothing Hopper-only is compiled in: any
# such path must be selected at run time.
set(BERTKIT_CUDA "AUTO" CACHE STRING "Build the CUDA backend: AUTO, ON or OFF")
set(BERTKIT_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual" CACHE STRING "CUDA architectures to compile for")
if(CMAKE_JS_VERSION AND BERTKIT_CUDA STREQUAL "AUTO")
  set(BERTKIT_CUDA ON)  # npm run build:cuda exists for this
endif()

if(NOT BERTKIT_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    if(BERTKIT_CUDA STREQUAL "ON")
      message(FATAL_ERROR "bertkit: the CUDA backend was requested but no CUDA compiler (nvcc) was found; "
                          "install the CUDA toolkit (12.x or 13.x), or put nvcc on PATH, or set CUDACXX")
    endif()
    message(STATUS "bertkit: no CUDA compiler found, the CUDA backend is not built")
  endif()
endif()

if(CMAKE_CUDA_COMPILER AND NOT BERTKIT_CUDA STREQUAL "OFF")
  set(CMAKE_CUDA_ARCHITECTURES "${BERTKIT_CUDA_ARCHITECTURES}")
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "bertkit: CUDA backend with ${CMAKE_CUDA_COMPILER} ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

  set(BERTKIT_CUDA_SOURCES
    ${PROJECT_SOURCE_DIR}/cuda/backend.cu
    ${PROJECT_SOURCE_DIR}/cuda/probe.cu
    ${PROJECT_SOURCE_DIR}/cuda/cublaslt.cc
    ${PROJECT_SOURCE_DIR}/cuda/gemm_dispatch.cu
    ${PROJECT_SOURCE_DIR}/cuda/kernels/gemm.cu
    ${PROJECT_SOURCE_DIR}/cuda/kernels/attention.cu
    ${PROJECT_SOURCE_DIR}/cuda/kernels/norm.cu
  )
  set(BERTKIT_CUDA_FLAGS "$<$<COMPILE_LANGUAGE:CUDA>:-O3;-lineinfo;-diag-suppress=2810>" "$<$<COMPILE_LANGUAGE:CXX>:${BERTKIT_CXX_FLAGS}>")

  # The Hopper wgmma GEMM needs sm_90a code, and nothing else may run it: where 9.0 is among the
  # architectures it gets its own object library compiled for sm_90a alone (the build then says
  # BERTKIT_WITH_WGMMA); elsewhere it compiles to stubs. It runs only when selected at run time.
  set(BERTKIT_WGMMA OFF)
  foreach(arch IN LISTS BERTKIT_CUDA_ARCHITECTURES)
    if(arch MATCHES "^90")
      set(BERTKIT_WGMMA ON)
    endif()
  endforeach()
  if(BERTKIT_WGMMA)
    add_library(bertkit_cuda_sm90 OBJECT ${PROJECT_SOURCE_DIR}/cuda/kernels/gemm_sm90.cu)
    set_target_properties(bertkit_cuda_sm90 PROPERTIES CUDA_ARCHITECTURES OFF POSITION_INDEPENDENT_CODE ON)
    target_include_directories(bertkit_cuda_sm90 PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/native/include ${PROJECT_SOURCE_DIR}/native)
    target_compile_definitions(bertkit_cuda_sm90 PRIVATE BERTKIT_WITH_WGMMA)
    target_compile_options(bertkit_cuda_sm90 PRIVATE ${BERTKIT_CUDA_FLAGS} "$<$<COMPILE_LANGUAGE:CUDA>:-gencode=arch=compute_90a,code=sm_90a>")
    list(APPEND BERTKIT_CUDA_SOURCES $<TARGET_OBJECTS:bertkit_cuda_sm90>)
  else()
    list(APPEND BERTKIT_CUDA_SOURCES ${PROJECT_SOURCE_DIR}/cuda/kernels/gemm_sm90.cu)
  endif()

  add_library(bertkit_cuda STATIC ${BERTKIT_CUDA_SOURCES})
  target_include_directories(bertkit_cuda PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(bertkit_cuda PRIVATE ${BERTKIT_CUDA_FLAGS})
  # dl: cuBLASLt is loaded at run time where present (cuda/cublaslt.h); nothing of cuBLAS is linked.
  target_link_libraries(bertkit_cuda PUBLIC bertkit_engine CUDA::cudart_static ${CMAKE_DL_LIBS})
  set_target_properties(bertkit_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_RUNTIME_LIBRARY Static)

  # The CUDA addon: the N-API sources of binding.gyp's CPU addon (all of native/napi), the engine
  # (bertkit_engine, with the training engine) and the CUDA backend. Under cmake-js; and outside it
  # when BERTKIT_NODE_API_INC names the Node-API headers (test/cpp/run.mjs does, so CI compiles the
  # CUDA code once for test_cuda and the addon the ava tests load: build-cmake/bertkit_cuda.node).
  set(BERTKIT_NODE_API_INC "" CACHE STRING "Node-API include folders (node-api-headers, node-addon-api) to build the CUDA addon outside cmake-js")
  if(CMAKE_JS_VERSION OR BERTKIT_NODE_API_INC)
    file(GLOB BERTKIT_NAPI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/native/napi/*.cc)
    add_library(bertkit_cuda_addon SHARED ${CMAKE_JS_SRC} ${BERTKIT_NAPI_SOURCES})
    set_target_properties(bertkit_cuda_addon PROPERTIES PREFIX "" SUFFIX ".node" OUTPUT_NAME bertkit_cuda)
    target_include_directories(bertkit_cuda_addon PRIVATE ${CMAKE_JS_INC} ${BERTKIT_NODE_API_INC})
    target_compile_definitions(bertkit_cuda_addon PRIVATE NAPI_VERSION=8 NODE_ADDON_API_DISABLE_DEPRECATED NAPI_CPP_EXCEPTIONS
                               NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS BERTKIT_WITH_CUDA)
    target_compile_options(bertkit_cuda_addon PRIVATE ${BERTKIT_CXX_FLAGS})
    target_link_libraries(bertkit_cuda_addon PRIVATE bertkit_cuda ${CMAKE_JS_LIB})
    if(MSVC AND CMAKE_JS_NODELIB_DEF AND CMAKE_JS_NODELIB_TARGET)
      execute_process(COMMAND ${CMAKE_AR} /def:${CMAKE_JS_NODELIB_DEF} /out:${CMAKE_JS_NODELIB_TARGET} ${CMAKE_STATIC_LINKER_FLAGS})
    endif()
  endif()
  if(NOT CMAKE_JS_VERSION)
    # Host wrappers around single kernels, for the tests and the benchmark only.
    add_library(bertkit_cuda_testing STATIC ${PROJECT_SOURCE_DIR}/cuda/testing.cu ${PROJECT_SOURCE_DIR}/cuda/dev/model_files.cc)
    target_compile_options(bertkit_cuda_testing PRIVATE ${BERTKIT_CUDA_FLAGS})
    target_link_libraries(bertkit_cuda_testing PUBLIC bertkit_cuda)

    if(BERTKIT_BUILD_TESTS)
      add_executable(test_cuda ${PROJECT_SOURCE_DIR}/test/cpp/test_cuda.cc ${BERTKIT_REFERENCE_SOURCES})
      target_link_libraries(test_cuda PRIVATE bertkit_cuda_testing)
      target_compile_options(test_cuda PRIVATE ${BERTKIT_CXX_FLAGS})
      # Runs everywhere: the probe must answer (no device, or a device) without crashing.
      add_test(NAME cuda_probe COMMAND test_cuda probe)
      # Kernels and fixture parity print "SKIP: no CUDA device" and pass where there is none.
      add_test(NAME cuda_kernels COMMAND test_cuda kernels)
      set(BERTKIT_FIXTURES_DIR "${PROJECT_SOURCE_DIR}/../shared/fixtures" CACHE PATH "The shared fixture models")
      add_test(NAME cuda_fixtures COMMAND test_cuda fixtures ${BERTKIT_FIXTURES_DIR})
      add_test(NAME cuda_model COMMAND test_cuda model)
      # The cuBLASLt loader, GEMM choice and plans (plain C++); on a device also its products.
      add_test(NAME cuda_cublaslt COMMAND test_cuda cublaslt)
    endif()
    if(BERTKIT_BUILD_BENCH)
      add_executable(bench_gpu ${PROJECT_SOURCE_DIR}/bench/gpu/bench_gpu.cc)
      target_link_libraries(bench_gpu PRIVATE bertkit_cuda_testing)
      target_compile_options(bench_gpu PRIVATE ${BERTKIT_CXX_FLAGS})
    endif()
  endif()
elseif(CMAKE_JS_VERSION)
  message(FATAL_ERROR "bertkit: cmake-js builds only the CUDA addon, and the CUDA backend is off (BERTKIT_CUDA=OFF)")
endif()
