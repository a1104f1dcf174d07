"""Running and trying the helpline: `helpline doctor`, `helpline demo` and the simulator page's
routes.

Owns: checks that say what to fix (and create nothing), the zero-configuration trial, the
training simulator.
Never imports: nothing forbids it; it is the outermost room next to `cli` and `main`.
"""
