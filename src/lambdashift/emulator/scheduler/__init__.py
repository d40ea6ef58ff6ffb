"""The EventBridge Scheduler subset that invokes the emulator's functions."""
