"""The one logged-in WeChat account: the client the stages talk to, the room directory, and the
transports under it (`puppet/`, the wechaty gRPC link: the only code importing grpc). Imports the
core and `bridge.config`.
"""
