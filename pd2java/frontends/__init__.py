"""Front ends: turn a framework model into the IR (``pd2java.ir``).

- ``pd2java.frontends.fx``: torch.fx capture of an ``nn.Module`` (matched on graph structure and
  module types, never on layer names).
- ``pd2java.frontends.onnx``: an ONNX model onto the IR (``onnx_to_graph``).
- ``pd2java.frontends.torchscript``: a TorchScript file, checked, screened and converted to ONNX
  in memory by ``torch.onnx.export(dynamo=False)``, then read by the ONNX front end
  (``torchscript_to_graph``).
"""
