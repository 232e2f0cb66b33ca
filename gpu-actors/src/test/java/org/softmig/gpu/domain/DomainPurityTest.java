package org.softmig.gpu.domain;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The domain is plain Java: time is passed in, and no framework reaches into it. */
class DomainPurityTest {

  @Test
  void domainImportsNoAkkaNettyProtobufOrJna() {
    JavaClasses classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("org.softmig.gpu.domain");
    noClasses()
        .that()
        .resideInAPackage("org.softmig.gpu.domain..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("akka..", "scala..", "io.netty..", "com.google.protobuf..", "com.sun.jna..")
        .check(classes);
  }
}
