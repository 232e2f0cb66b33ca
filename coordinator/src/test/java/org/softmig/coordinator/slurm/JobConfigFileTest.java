package org.softmig.coordinator.slurm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigFileTest {

  static final long GIB = 1L << 30;

  @TempDir Path dir;

  @Test
  void parsesLimitsPerDeviceAndIgnoresCommentsAndUnknownKeys() {
    JobLimits limits =
        JobConfigFile.parse(
            "123.conf",
            "# slice\n"
                + "CUDA_DEVICE_MEMORY_LIMIT=12G\n"
                + "export CUDA_DEVICE_SM_LIMIT=25\n"
                + "CUDA_DEVICE_MEMORY_LIMIT_1=\"1.5G\"\n"
                + "CUDA_DEVICE_SM_LIMIT_1=50%\n"
                + "SOMETHING_ELSE=x\n\n");
    assertThat(limits.memoryFor(0)).isEqualTo(12 * GIB);
    assertThat(limits.memoryFor(1)).isEqualTo(3 * GIB / 2);
    assertThat(limits.smFor(0)).isEqualTo(25.0);
    assertThat(limits.smFor(1)).isEqualTo(50.0);
  }

  @Test
  void rejectsMalformedValuesNamingFileKeyAndValue() {
    assertThatThrownBy(() -> JobConfigFile.parse("/x/1.conf", "CUDA_DEVICE_MEMORY_LIMIT=12X\n"))
        .hasMessageContaining("/x/1.conf")
        .hasMessageContaining("CUDA_DEVICE_MEMORY_LIMIT")
        .hasMessageContaining("12X");
    assertThatThrownBy(() -> JobConfigFile.parse("/x/1.conf", "CUDA_DEVICE_SM_LIMIT=150\n"))
        .hasMessageContaining("CUDA_DEVICE_SM_LIMIT")
        .hasMessageContaining("150");
    assertThatThrownBy(() -> JobConfigFile.parse("/x/1.conf", "CUDA_DEVICE_SM_LIMIT_0=abc\n"))
        .hasMessageContaining("CUDA_DEVICE_SM_LIMIT_0")
        .hasMessageContaining("abc");
    assertThatThrownBy(() -> JobConfigFile.parse("/x/1.conf", "just words\n"))
        .hasMessageContaining("/x/1.conf:1");
  }

  @Test
  void readsTheFileByteForByteAndRefusesOneOverSixtyFourKiB() throws Exception {
    Path file = dir.resolve("7.conf");
    Files.write(
        file,
        "CUDA_DEVICE_MEMORY_LIMIT=12G   # caf\u00e9\nCUDA_DEVICE_SM_LIMIT=25\n"
            .getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertThat(JobConfigFile.read(file).memoryFor(0)).isEqualTo(12 * GIB);

    Files.writeString(file, "#".repeat(JobConfigFile.MAX_BYTES) + "\n");
    assertThatThrownBy(() -> JobConfigFile.read(file))
        .isInstanceOf(JobConfigFile.MalformedException.class)
        .hasMessageContaining("larger than");
  }

  @Test
  void trustsOnlyRegularFilesOfTheExpectedOwnerNotWritableByOthers() throws Exception {
    int me = (Integer) Files.getAttribute(dir, "unix:uid");
    Path good = Files.writeString(dir.resolve("1.conf"), "CUDA_DEVICE_MEMORY_LIMIT=1G\n");
    Files.setPosixFilePermissions(good, PosixFilePermissions.fromString("rw-r--r--"));
    JobConfigFile.checkSafe(good, me);

    assertThatThrownBy(() -> JobConfigFile.checkSafe(good, me + 1))
        .isInstanceOf(JobConfigFile.UnsafeFileException.class)
        .hasMessageContaining("owned by uid " + me);

    Path groupWritable = Files.writeString(dir.resolve("2.conf"), "");
    Files.setPosixFilePermissions(groupWritable, PosixFilePermissions.fromString("rw-rw-r--"));
    assertThatThrownBy(() -> JobConfigFile.checkSafe(groupWritable, me))
        .hasMessageContaining("writable by group or others");

    Path worldWritable = Files.writeString(dir.resolve("3.conf"), "");
    Files.setPosixFilePermissions(worldWritable, PosixFilePermissions.fromString("rw-r--rw-"));
    assertThatThrownBy(() -> JobConfigFile.checkSafe(worldWritable, me))
        .hasMessageContaining("writable by group or others");

    Path link = Files.createSymbolicLink(dir.resolve("4.conf"), good);
    assertThatThrownBy(() -> JobConfigFile.checkSafe(link, me))
        .hasMessageContaining("symbolic link");

    Path directory = Files.createDirectory(dir.resolve("5.conf"));
    assertThatThrownBy(() -> JobConfigFile.checkSafe(directory, me))
        .hasMessageContaining("not a regular file");
  }
}
