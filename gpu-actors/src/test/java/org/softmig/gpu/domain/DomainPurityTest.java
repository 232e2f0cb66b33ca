package org.softmig.gpu.domain;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The domain is plain Java: scheduling and ledger logic must not reach into the edges. */
class DomainPurityTest {

  private static final JavaClasses DOMAIN =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("org.softmig.gpu.domain");

  @Test
  void domainDependsOnNoFrameworkOrNativeLibrary() {
    noClasses()
        .that()
        .resideInAPackage("org.softmig.gpu.domain..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "akka..", "io.netty..", "com.google.protobuf..", "com.sun.jna..", "org.softmig.proto..")
        .because("domain classes are plain Java with time passed in, wrapped by actors at the edge")
        .check(DOMAIN);
  }

  @Test
  void domainHasClassesToCheck() {
    // Guards against the rule passing vacuously because nothing was imported.
    org.assertj.core.api.Assertions.assertThat(DOMAIN.contain(Placement.class)).isTrue();
  }
}
