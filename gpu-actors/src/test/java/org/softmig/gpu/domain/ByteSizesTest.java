package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ByteSizesTest {
  private static final long KIB = 1L << 10;
  private static final long MIB = 1L << 20;
  private static final long GIB = 1L << 30;

  @Test
  void showsSmallSizesInBytes() {
    assertThat(ByteSizes.format(0)).isEqualTo("0 B");
    assertThat(ByteSizes.format(512)).isEqualTo("512 B");
    assertThat(ByteSizes.format(1023)).isEqualTo("1023 B");
  }

  @Test
  void showsLargerSizesWithOneDecimalInTheLargestUnit() {
    assertThat(ByteSizes.format(KIB)).isEqualTo("1.0 KiB");
    assertThat(ByteSizes.format(512 * MIB)).isEqualTo("512.0 MiB");
    assertThat(ByteSizes.format(4 * GIB)).isEqualTo("4.0 GiB");
    assertThat(ByteSizes.format(12884901888L)).isEqualTo("12.0 GiB");
    assertThat(ByteSizes.format(10 * GIB + 205 * MIB)).isEqualTo("10.2 GiB");
    assertThat(ByteSizes.format(1536 * MIB)).isEqualTo("1.5 GiB");
    assertThat(ByteSizes.format(80L << 40)).isEqualTo("80.0 TiB");
  }

  @Test
  void roundsUpIntoTheNextUnitRatherThanShowing1024() {
    assertThat(ByteSizes.format(GIB - 1)).isEqualTo("1.0 GiB");
    assertThat(ByteSizes.format(MIB - 1)).isEqualTo("1.0 MiB");
    assertThat(ByteSizes.format(1023 * MIB)).isEqualTo("1023.0 MiB");
  }

  @Test
  void handlesTheExtremes() {
    assertThat(ByteSizes.format(Long.MAX_VALUE)).isEqualTo("8.0 EiB");
    assertThat(ByteSizes.format(-4 * GIB)).isEqualTo("-4.0 GiB");
    assertThat(ByteSizes.format(-1)).isEqualTo("-1 B");
    assertThat(ByteSizes.format(Long.MIN_VALUE)).isEqualTo("-8.0 EiB");
  }
}
