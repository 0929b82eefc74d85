"""Back ends: what consumes the IR.

- ``pd2java.backends.manifest`` and ``pd2java.backends.safetensors_io``: the manifest + weights
  format (writer and the one strict reader);
- ``pd2java.backends.reference``: the NumPy reference interpreter;
- ``pd2java.backends.onnx``: the ONNX writer;
- ``pd2java.backends.java``: the Java runtime build, the generated Java and the parity bridge.
"""
