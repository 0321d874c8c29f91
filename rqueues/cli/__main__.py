from .main import main

# Guarded: process-executor children (multiprocessing) must not run the command again.
if __name__ == "__main__":
    main()
