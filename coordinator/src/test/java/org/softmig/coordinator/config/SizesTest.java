package org.softmig.coordinator.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SizesTest {

  @ParameterizedTest
  @CsvSource({
    "24G, 25769803776",
    "24GiB, 25769803776",
    "24GB, 25769803776",
    "24gib, 25769803776",
    "1.5G, 1610612736",
    "12288M, 12884901888",
    "512K, 524288",
    "2T, 2199023255552",
    "1073741824, 1073741824",
    "0, 0",
    "100B, 100",
    "0.3K, 307",
    "' 8G ', 8589934592"
  })
  void parsesBinarySizes(String text, long bytes) {
    assertThat(Sizes.parse(text)).isEqualTo(bytes);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "-1", "-1G", "12X", "1.2.3", "G", "1 G B", "99999999999T", "9223372036854775808"})
  void rejectsAnythingElseNamingTheValue(String text) {
    assertThatThrownBy(() -> Sizes.parse(text))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'" + text + "'");
  }
}
