package org.softmig.coordinator.cli;

/** A command failed in a way the user should read; printed as "softmig: message", exit 1. */
public final class CliFailure extends RuntimeException {
  public CliFailure(String message) {
    super(message);
  }
}
