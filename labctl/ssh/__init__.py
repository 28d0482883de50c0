"""SSH access to lab VMs: keys, host-key verification, port forwarding, Jupyter discovery."""
