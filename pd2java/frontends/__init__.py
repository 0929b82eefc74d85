"""Front ends: turn a framework model into the IR (``pd2java.ir``).

- ``pd2java.frontends.fx``: torch.fx capture of an ``nn.Module`` (matched on graph structure and
  module types, never on layer names).
- ``pd2java.frontends.onnx``: an ONNX model onto the IR (``onnx_to_graph``).
"""
