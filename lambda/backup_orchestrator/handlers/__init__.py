"""The functions' entry points, one module per Lambda function: each validates its settings and
its event (contract/), builds the services it needs (aws/), calls run/ and returns the answer.
Thin on purpose: no decision is made here. May import every other layer; nothing imports it.
"""
