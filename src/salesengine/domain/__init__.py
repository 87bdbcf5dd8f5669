"""The sales domain: deals, funnel policies and the stage guard.

Nothing here knows about databases, brokers or the command line.
"""
