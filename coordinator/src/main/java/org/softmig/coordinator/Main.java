package org.softmig.coordinator;

import org.softmig.coordinator.cli.SoftmigCommand;

/** {@code bin/softmig}: the coordinator service and the admin commands. */
public final class Main {

  private Main() {}

  public static void main(String[] args) {
    System.exit(SoftmigCommand.run(args));
  }
}
