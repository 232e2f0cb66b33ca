package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class UnmanagedPolicyTest {

  @Test
  void parsesTheConfigValues() {
    assertThat(UnmanagedPolicy.parse("report")).isEqualTo(UnmanagedPolicy.REPORT);
    assertThat(UnmanagedPolicy.parse(" KILL ")).isEqualTo(UnmanagedPolicy.KILL);
    assertThat(UnmanagedPolicy.KILL.configValue()).isEqualTo("kill");
  }

  @Test
  void refusesAnythingElseNamingTheValue() {
    assertThatThrownBy(() -> UnmanagedPolicy.parse("terminate"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[terminate]");
    assertThatThrownBy(() -> UnmanagedPolicy.parse(null))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
