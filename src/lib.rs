//! nrt-async-shim: the legacy Neuron runtime calls, implemented on the explicit
//! async (`nrta_*`) API with dependency tracking per tensor.
