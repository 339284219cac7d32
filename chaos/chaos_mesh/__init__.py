"""The catalogue's faults as Chaos Mesh resources, for the lab on Kubernetes: each
experiment's timeline a Workflow (render.py), from the steps it declares (steps.py)."""
