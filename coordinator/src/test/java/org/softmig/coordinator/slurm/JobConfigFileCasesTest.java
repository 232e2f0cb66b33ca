package org.softmig.coordinator.slurm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.softmig.coordinator.config.Percentages;
import org.softmig.coordinator.config.Sizes;

/**
 * The shared cases of the job file format and its values ({@code test-data/config-cases.txt}),
 * which the shim's {@code test_config_cases} reads too: both sides must agree with every case.
 * Every job file is tried with and without a newline after its last line.
 */
class JobConfigFileCasesTest {

  /** One case of the file. */
  record Case(String kind, String name, String text, String expect) {}

  static Path repoFile(String relative) {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.exists(dir.resolve(relative))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new IllegalStateException(relative + " not found above " + Path.of("").toAbsolutePath());
    }
    return dir.resolve(relative);
  }

  /** Undoes the escapes \t \r \\ \xHH. */
  static String unescape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\' || i + 1 >= s.length()) {
        b.append(c);
        continue;
      }
      char n = s.charAt(++i);
      switch (n) {
        case 't' -> b.append('\t');
        case 'r' -> b.append('\r');
        case '\\' -> b.append('\\');
        case 'x' -> {
          b.append((char) Integer.parseInt(s.substring(i + 1, i + 3), 16));
          i += 2;
        }
        default -> b.append('\\').append(n);
      }
    }
    return b.toString();
  }

  /**
   * The cases. Job file text is kept byte for byte, as the coordinator reads files (ISO-8859-1),
   * so that bytes above ASCII reach the parser as they reach the shim's.
   */
  static List<Case> cases() throws IOException {
    byte[] bytes = Files.readAllBytes(repoFile("test-data/config-cases.txt"));
    String[] lines = new String(bytes, StandardCharsets.ISO_8859_1).split("\n", -1);
    List<Case> cases = new ArrayList<>();
    String fileName = null;
    StringBuilder text = new StringBuilder();
    for (String line : lines) {
      if (fileName != null) {
        if (line.equals("expect") || line.startsWith("expect ")) {
          cases.add(new Case("file", fileName, text.toString(), line.length() > 6 ? line.substring(7) : ""));
          fileName = null;
        } else {
          text.append(unescape(line)).append('\n');
        }
        continue;
      }
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int space = line.indexOf(' ');
      String kind = space < 0 ? line : line.substring(0, space);
      if (kind.equals("file")) {
        fileName = line.substring(5);
        text.setLength(0);
      } else if (kind.equals("size") || kind.equals("percent")) {
        int arrow = line.lastIndexOf(" => ");
        assertThat(arrow).as("case line %s", line).isGreaterThanOrEqualTo(space);
        String value = unescape(line.substring(space + 1, arrow));
        cases.add(new Case(kind, value, value, line.substring(arrow + 4)));
      } else {
        throw new IllegalStateException("malformed case line: " + line);
      }
    }
    assertThat(fileName).as("a file case without expect").isNull();
    return cases;
  }

  @TestFactory
  Stream<DynamicTest> everyCaseOfTheSharedFile() throws IOException {
    List<Case> cases = cases();
    assertThat(cases).hasSizeGreaterThan(100);
    return cases.stream()
        .map(c -> DynamicTest.dynamicTest(c.kind() + " " + c.name(), () -> check(c)));
  }

  static void check(Case c) {
    switch (c.kind()) {
      case "size" -> {
        if (c.expect().equals("error")) {
          assertThatThrownBy(() -> Sizes.parse(c.text())).isInstanceOf(IllegalArgumentException.class);
        } else {
          assertThat(Sizes.parse(c.text())).isEqualTo(Long.parseUnsignedLong(c.expect()));
        }
      }
      case "percent" -> {
        if (c.expect().equals("error")) {
          assertThatThrownBy(() -> Percentages.parse(c.text()))
              .isInstanceOf(IllegalArgumentException.class);
        } else {
          assertThat(Percentages.parse(c.text())).isEqualTo(Double.parseDouble(c.expect()));
        }
      }
      default -> {
        String withoutFinalNewline =
            c.text().isEmpty() ? "" : c.text().substring(0, c.text().length() - 1);
        for (String text : List.of(c.text(), withoutFinalNewline)) {
          if (c.expect().equals("error")) {
            assertThatThrownBy(() -> JobConfigFile.parse("case.conf", text))
                .isInstanceOf(JobConfigFile.MalformedException.class)
                .hasMessageStartingWith("case.conf");
          } else {
            assertThat(JobConfigFile.parse("case.conf", text)).isEqualTo(expected(c.expect()));
          }
        }
      }
    }
  }

  static JobLimits expected(String expect) {
    long memory = 0;
    double sm = 0;
    Map<Integer, Long> memoryByOrdinal = new HashMap<>();
    Map<Integer, Double> smByOrdinal = new HashMap<>();
    for (String field : expect.split(" ")) {
      if (field.isEmpty()) {
        continue;
      }
      String[] kv = field.split("=");
      String[] name = kv[0].split("\\.");
      if (name[0].equals("mem") && name.length == 1) {
        memory = Long.parseLong(kv[1]);
      } else if (name[0].equals("mem")) {
        memoryByOrdinal.put(Integer.parseInt(name[1]), Long.parseLong(kv[1]));
      } else if (name.length == 1) {
        sm = Double.parseDouble(kv[1]);
      } else {
        smByOrdinal.put(Integer.parseInt(name[1]), Double.parseDouble(kv[1]));
      }
    }
    return new JobLimits(memory, sm, memoryByOrdinal, smByOrdinal);
  }

  /** Every job file example of the README is one of the shared cases, and a valid one. */
  @Test
  void readmeExamplesAreSharedCases() throws IOException {
    String readme = Files.readString(repoFile("README.md"), StandardCharsets.UTF_8);
    List<String> examples = new ArrayList<>();
    String[] blocks = readme.split("```");
    for (int i = 1; i < blocks.length; i += 2) {
      String body = blocks[i].substring(blocks[i].indexOf('\n') + 1);
      String stripped =
          body.lines().map(String::strip).filter(l -> !l.isEmpty()).reduce("", (a, b) -> a + b + "\n");
      if (stripped.startsWith("CUDA_DEVICE_")) {
        examples.add(stripped);
      }
    }
    assertThat(examples).isNotEmpty();
    List<String> validFiles =
        cases().stream().filter(c -> c.kind().equals("file") && !c.expect().equals("error")).map(Case::text).toList();
    for (String example : examples) {
      assertThat(validFiles).as("README example is a shared case").contains(example);
    }
  }
}
