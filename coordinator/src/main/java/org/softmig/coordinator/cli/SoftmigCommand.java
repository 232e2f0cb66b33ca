package org.softmig.coordinator.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The top-level command behind {@code bin/softmig}. */
@Command(
    name = "softmig",
    mixinStandardHelpOptions = true,
    version = "softmig 0.1.0",
    description = "Software GPU slicing for SLURM clusters.",
    subcommands = {
      CoordinatorCommand.class,
      StatusCommand.class,
      PlaceCommand.class,
      ReleaseCommand.class,
      ReportCommand.class,
      DemoCommand.class,
      CommandLine.HelpCommand.class
    })
public final class SoftmigCommand implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
  }

  /** Runs a command line; returns the exit code (0 ok, 1 failed, 2 bad usage). */
  public static int run(String... args) {
    return commandLine(new PrintWriter(System.out, true), new PrintWriter(System.err, true))
        .execute(args);
  }

  public static CommandLine commandLine(PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new SoftmigCommand());
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          String message = e.getMessage() != null ? e.getMessage() : e.toString();
          commandLine.getErr().println("softmig: " + message);
          return 1;
        });
    return cl;
  }
}
