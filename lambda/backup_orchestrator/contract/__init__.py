"""What crosses the runtime's edges, validated: the function's settings (environment), the
events it accepts, the report it returns, and the limits the stack (infra/) reads so that a
setting the runtime would refuse is refused at synth (limits.py). Pydantic models whose errors
name the field. May import domain/ (for its records and bounds); never aws/, run/ or handlers/.
"""
