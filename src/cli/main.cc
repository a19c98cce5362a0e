#include "cli/app.h"

int main(int argc, char** argv) {
  return mailseal::cli::run(argc, argv);
}
