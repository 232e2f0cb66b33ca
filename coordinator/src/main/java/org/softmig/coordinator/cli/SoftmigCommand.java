package org.softmig.coordinator.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The top-level command behind {@code bin/softmig}. */
@Command(
    name = "softmig",
    mixinStandardHelpOptions = true,
    version = SoftmigCommand.VERSION,
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

  public static final String VERSION = "softmig 0.1.0";

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
  }

  /** The request was refused or failed (the message says why). */
  public static final int EXIT_REFUSED = 1;
  /** The command line was wrong. */
  public static final int EXIT_USAGE = 2;

  /** A usage mistake: one line naming it and where help is, exit 2. */
  private static int usageError(CommandLine.ParameterException e, String[] args) {
    CommandLine c = e.getCommandLine();
    c.getErr()
        .println(
            prefix(c)
                + oneLine(e.getMessage())
                + " (see '"
                + c.getCommandSpec().qualifiedName()
                + " --help')");
    return EXIT_USAGE;
  }

  private static String prefix(CommandLine c) {
    return c.getCommandSpec().qualifiedName() + ": ";
  }

  private static String oneLine(String message) {
    return message == null ? "" : message.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
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
    cl.setParameterExceptionHandler(SoftmigCommand::usageError);
    cl.getSubcommands().values().forEach(sub -> sub.getCommandSpec().version(VERSION));
    cl.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          String message = e.getMessage() != null ? e.getMessage() : e.toString();
          commandLine.getErr().println(prefix(commandLine) + oneLine(message));
          return EXIT_REFUSED;
        });
    return cl;
  }
}
